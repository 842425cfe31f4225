"""The fleet: fleet.yaml, wizard houses, homes, ports, gateways, status and doctor."""
