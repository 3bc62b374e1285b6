"""Debug-mode only: a mailbox that shows what the file mail backend wrote."""
