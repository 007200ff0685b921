"""The HTTP plumbing every route shares: bodies in, problems out, one trace id throughout.

bodies.py       strict JSON reading (UTF-8 application/json, unknown fields refused)
body_limits.py  the ASGI wrapper refusing oversized bodies before they are read
multipart.py    multipart/form-data uploads to a temporary file, hashed as they arrive
trace.py        trace ids (traceparent, X-Request-ID or a new one)
middleware.py   request context and access log, per-key response steps, the problem fallback
errors.py       exceptions -> problem responses (one table)
problems.py     RFC 9457 problem+json bodies
"""
