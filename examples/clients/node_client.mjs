// A small image client in Node, with the built-in fetch (Node 18+, no dependencies), configured like the
// OpenAI SDKs: OPENAI_BASE_URL (ending in /v1) and OPENAI_API_KEY.
//
//   aiml-mock check -- node examples/clients/node_client.mjs              keeps the contract
//   aiml-mock check -- node examples/clients/node_client.mjs --bad-size   asks dall-e-2 for a size it lacks (400)
//   aiml-mock check -- node examples/clients/node_client.mjs --typo       sends `respone_format`, which the
//                                                                         real API silently ignores
const base = process.env.OPENAI_BASE_URL ?? 'https://api.aimlapi.com/v1';
const flags = new Set(process.argv.slice(2));

const body = {
  model: 'dall-e-2',
  prompt: 'A lighthouse on a cliff at dusk, oil painting',
  n: 2,
  size: flags.has('--bad-size') ? '1792x1024' : '256x256',
  response_format: 'b64_json',
};
if (flags.has('--typo')) body.respone_format = 'url';

const response = await fetch(`${base}/images/generations`, {
  method: 'POST',
  headers: { Authorization: `Bearer ${process.env.OPENAI_API_KEY}`, 'Content-Type': 'application/json' },
  body: JSON.stringify(body),
});
const payload = await response.json();
if (!response.ok) {
  console.error(`the API refused the request: ${response.status} ${JSON.stringify(payload)}`);
  process.exit(1);
}
const sizes = payload.data.map((item) => Buffer.from(item.b64_json, 'base64').length);
console.log(`${payload.data.length} image(s): ${sizes.join(', ')} bytes`);
