"""Live codes and what they brought (control plane)."""
