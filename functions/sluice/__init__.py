"""Sluice: ship machine-learning models on Amazon SageMaker by dropping artifacts into S3."""
