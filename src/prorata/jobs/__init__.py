"""The job queue: the procrastinate app, transactional defer, housekeeping, the worker runner."""
