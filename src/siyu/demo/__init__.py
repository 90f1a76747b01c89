"""Synthetic demo brand generator with ground truth (`siyu.demo.generate`)."""
