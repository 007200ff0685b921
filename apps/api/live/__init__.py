"""Live progress: `ws://…/ws/v1/videos/{id}` (Channels) and `GET /api/v1/videos/{id}/events`
(Server-Sent Events), one message format for both (docs/ARCHITECTURE.md, "Live progress")."""
