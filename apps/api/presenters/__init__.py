"""Use-case results and rows to response bodies (the API's, the web pages' and the webhooks').

videos.py    video views, upload instructions, live links, the webhook payload's video
webhooks.py  webhook endpoints and deliveries
"""
