"""The dispatcher (openclaw-work): routing, next-task selection and claims."""
