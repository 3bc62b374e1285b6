"""Email: composing messages, the outbox they wait in, the backends and the worker that send them."""
