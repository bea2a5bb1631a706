"""On-device vision: camera health, graffiti and anonymous crowd density. Only numbers leave."""
