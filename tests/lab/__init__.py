"""The real-nginx lab: Debian's nginx started by the tests, real TLS clients, ground truth.

``nginx`` starts and stops a lab nginx in its own prefix; ``clients`` holds the TLS clients
and raw ClientHellos; ``scenarios`` plays the scenario mix and records what each
connection attempt should produce (``truth.json``).

The messy lab: ``fleet`` (three nginx hosts, format reloads, logrotate), ``relay`` (the
PROXY-protocol "load balancer" and its health checks), ``messy`` (the scenario mix with nmap
and testssl) and ``messytruth`` (nginx's lines read back, and the report they imply).
"""
