"""Training a ReCo LoRA: the dataset folder (manifest, validation, buckets, cached latents) and the training loop.

Kept apart from inference so that importing the edit path never pulls in data loading or optimizer code.
"""
