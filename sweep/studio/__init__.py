"""The Edge Impulse API, whichever backend serves it: wire models (shared with the local studio), the
protocols a sweep needs of a backend, the httpx client, its retry policy, and what job logs and
learn-block metadata mean (flat metrics, curves, failure reasons)."""
