"""Local-only tools (dev stack, tests): never imported by a Lambda handler."""
