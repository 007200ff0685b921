"""The API's routes and the plain Django view served beside it.

videos.py   /api/v1/videos: create, upload, complete, get, list, change the playback policy
webhooks.py /api/v1/webhooks: endpoints, the delivery log, redeliver
system.py   health, readiness, version, problem types
metrics.py  /metrics: the process's Prometheus series
(/media/ and the playback routes are apps/api/playback/.)
"""
