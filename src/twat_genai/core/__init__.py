"""Provider-neutral building blocks: models, sizes, prompt grammar, LoRA, images, output writer."""
