// One scenario with Node's built-in fetch (no dependency), as the provider's examples call the API: JSON
// config in argv[2], one JSON line out: the status and parsed body, or the error fetch threw.
//   config: { baseURL, apiKey, body }
const config = JSON.parse(process.argv[2]);
try {
  const response = await fetch(`${config.baseURL}/images/generations`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${config.apiKey}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(config.body),
  });
  const body = await response.json();
  let image = null;
  const first = response.ok ? body.data?.[0] : undefined;
  if (first?.url) {
    const download = await fetch(first.url);
    image = { status: download.status, type: download.headers.get('content-type'),
      bytes: (await download.arrayBuffer()).byteLength };
  }
  console.log(JSON.stringify({
    ok: response.ok, status: response.status, body, image,
    headers: { 'retry-after': response.headers.get('retry-after'), 'retry-after-ms': response.headers.get('retry-after-ms') },
  }));
} catch (error) {
  console.log(JSON.stringify({
    ok: false, thrown: { name: error.name, message: error.message, cause: error.cause?.code ?? null },
  }));
}
