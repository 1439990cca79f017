"""Read and validate: incident files and boundaries in, every row accepted or rejected with its
reason."""
