"""Turning files into a `PolicySet`: bundle directories, `admit.yaml`, data files, manifests."""
