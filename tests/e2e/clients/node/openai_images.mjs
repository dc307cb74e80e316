// gpt-image with the official openai Node SDK, as an app would call it: JSON config in argv[2], one JSON line out.
//   config: { baseURL, apiKey, call: "generate" | "edit" | "createVariation", request, files: { image, mask } }
// `files` name PNG paths (`image` one path or a list), sent with the SDK's `toFile`. A streamed answer
// (`request.stream`) is iterated to its end; every event is reported as the SDK parsed it.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import OpenAI, { toFile } from 'openai';

const config = JSON.parse(process.argv[2]);
const client = new OpenAI({ baseURL: config.baseURL, apiKey: config.apiKey, maxRetries: 0 });
const upload = async (path) => toFile(await readFile(path), basename(path), { type: 'image/png' });

try {
  const request = { ...config.request };
  for (const [name, value] of Object.entries(config.files ?? {})) {
    request[name] = Array.isArray(value) ? await Promise.all(value.map(upload)) : await upload(value);
  }
  const answer = await client.images[config.call](request);
  if (request.stream) {
    const events = [];
    for await (const event of answer) events.push(event);
    console.log(JSON.stringify({ ok: true, events }));
  } else {
    console.log(JSON.stringify({ ok: true, answer }));
  }
} catch (error) {
  console.log(JSON.stringify({
    ok: false,
    error: {
      name: error.constructor.name,
      isBadRequest: error instanceof OpenAI.BadRequestError,
      status: error.status ?? null,
      code: error.code ?? null,
      param: error.param ?? null,
      type: error.type ?? null,
      message: error.message,
    },
  }));
}
