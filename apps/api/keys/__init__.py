"""Who a request acts for, and what each API key may do.

api_keys.py     issuing, verifying and revoking keys (`avk_<prefix>_<secret>`, HMAC + pepper)
auth.py         the ninja auth: Bearer or X-API-Key; the per-key hooks run at authentication
rate_limits.py  the per-key token bucket (Redis) and its RateLimit-* headers
idempotency.py  Idempotency-Key on every POST: claim, replay, conflict (the rows: ../models.py)
"""
