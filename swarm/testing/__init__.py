"""Local fakes of the services swarm talks to, for tests, benchmarks and the reliability suite:
Replicate's HTTP and SSE API (:mod:`~swarm.testing.fake_replicate`), an OpenAI-compatible chat
server (:mod:`~swarm.testing.fake_openai`), and an in-memory call journal
(:mod:`~swarm.testing.journal`). Nothing here touches the network beyond 127.0.0.1."""
