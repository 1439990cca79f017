"""Read and validate: incident files and boundaries read, every row made canonical or given
its reason for rejection."""
