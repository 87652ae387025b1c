"""The Edge Impulse Studio API: wire models shared with the local studio, and the httpx client."""
