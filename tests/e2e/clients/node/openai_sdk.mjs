// One scenario with the official openai Node SDK, as an app would call it: JSON config in argv[2], one JSON
// line out saying what happened (the data, or the error the SDK raised and what it carried).
//   config: { baseURL, apiKey, request, maxRetries, readBody }
// `readBody`: the SDK drops an error body without an `error` key (the AI/ML API's flat bodies) and says
// "400 status code (no body)"; a `fetch` wrapper keeping a copy of each failed answer's body reads it anyway.
import OpenAI from 'openai';

const config = JSON.parse(process.argv[2]);
let lastErrorBody = null;
const keepErrorBody = async (url, init) => {
  const response = await fetch(url, init);
  if (!response.ok) lastErrorBody = await response.clone().json().catch(() => null);
  return response;
};
const client = new OpenAI({
  baseURL: config.baseURL,
  apiKey: config.apiKey,
  maxRetries: config.maxRetries ?? 2,
  ...(config.readBody ? { fetch: keepErrorBody } : {}),
});

try {
  const result = await client.images.generate(config.request);
  const data = result.data.map((item) => ({
    url: item.url ?? null,
    b64_bytes: item.b64_json ? Buffer.from(item.b64_json, 'base64').length : null,
    revised_prompt: item.revised_prompt ?? null,
  }));
  console.log(JSON.stringify({ ok: true, data }));
} catch (error) {
  console.log(JSON.stringify({
    ok: false,
    error: {
      name: error.constructor.name,
      isAPIError: error instanceof OpenAI.APIError,
      status: error.status ?? null,
      message: error.message,
      error: error.error ?? null,
      requestID: error.requestID ?? null,
      cause: error.cause ? String(error.cause.message ?? error.cause) : null,
    },
    body: lastErrorBody,
  }));
}
