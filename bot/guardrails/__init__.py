"""Who may generate, how much, and in what order: policies, limits and the queue."""
