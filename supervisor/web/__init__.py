"""The web service: the live wall's WebSocket, the API over the read model, exports.

`app.create_app(settings)` is the one composition root; `server.run(settings)` serves it.
The modules: `journal` (the alert lifecycle, pure), `hub` (the walls' memory and
broadcast, no I/O), `consumer` (Kafka -> read model -> hub), `readmodel` (readiness,
scopes, counts), `writer` (lifecycle changes to the journal), `metrics` (Prometheus),
`app` (HTTP and WebSocket routes). The read model itself is supervisor/store/.

Nothing is imported here: supervisor/store/ uses the pure `journal` and `hub` modules,
and importing the app with the package would import the store back.
"""
