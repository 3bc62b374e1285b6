"""The moderators' side: sign-in, the review queue, actions, the audit log, letter management."""
