"""Development aids: the debug-mode mailbox (views), fake signers at scale (seed) and instance/.env (settings)."""
