// The provider's `fetch` example from its DALL·E 3 page, unchanged but for the host, which it reads from
// AIML_API_URL, ending in /v1 as in the provider's SDK docs (default: the real API). Against the mock:
// AIML_API_URL=http://127.0.0.1:8000/v1 node generate-image.js
const AIML_API_URL = process.env.AIML_API_URL || 'https://api.aimlapi.com/v1';

async function main() {
  try {
    const response = await fetch(`${AIML_API_URL}/images/generations`, {
      method: 'POST',
      headers: {
        // Insert your AIML API Key instead of <YOUR_AIMLAPI_KEY>:
        'Authorization': 'Bearer <YOUR_AIMLAPI_KEY>',
        'Content-Type': 'application/json',
      },
      body: JSON.stringify({
        prompt: 'A T-Rex relaxing on a beach, lying on a sun lounger and wearing sunglasses.',
        model: 'dall-e-3',
        quality: 'hd'
      }),
    });

    if (!response.ok) {
      throw new Error(`HTTP error! Status: ${response.status}`);
    }

    const data = await response.json();
    console.log('Generation:', data);

  } catch (error) {
    console.error('Error:', error);
  }
}

main();
