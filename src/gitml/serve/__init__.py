"""Serving and scoring: the REST server, micro-batching, the prediction log, replay."""
