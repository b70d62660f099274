"""The console: a small read-only web UI on its own port, run by `admit serve --console-port`
in a process of its own (forked by the supervisor). It shows the loaded policies, reload
status, a live stream of every worker's decisions, metrics, and a playground that evaluates
pasted manifests. It never talks to a cluster and never changes what the webhook serves."""
