"""The grading engine, the only code that talks to Docker: sandbox and policy, builds, Compose, the API proxy, the runner."""
