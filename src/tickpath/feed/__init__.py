"""Session layers: sequencing, gaps and duplicates, over the codecs' message blocks."""
