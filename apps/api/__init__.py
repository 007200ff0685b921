"""HTTP only: the API v1 (django-ninja) over the use cases in src/application/ (this process's
set: academy/current.py).

By concern (each package's docstring lists its modules):
  api.py       the NinjaAPI instance and its exception handlers
  models.py    API keys, Idempotency-Key records (their queries: academy/adapters/),
               playback signing keys
  keys/        API keys, authentication, rate limits, idempotency
  http/        bodies, body limits, multipart, trace ids, middleware, errors, problems
  schemas/     request and response shapes
  presenters/  use-case results to response bodies
  routers/     the routes and /metrics
  playback/    /media/ by playback id, playback tokens, signing keys, the URLs handed out
  live/        live progress over WebSocket and SSE
The web pages' session cookie, the second way in, is apps/web/session_auth.py.
"""
