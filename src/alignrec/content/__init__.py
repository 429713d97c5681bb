"""Item content: encoders that turn raw text and images into feature matrices."""
