"""Daily check-in with streaks, make-up cards and rewards by streak length."""
