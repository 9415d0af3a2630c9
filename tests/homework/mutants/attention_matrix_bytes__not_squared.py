def attention_matrix_bytes(tokens, heads=1, layers=1, batch=1, bytes_per_element=4):
    """Counts N entries per matrix instead of N²."""
    return batch * layers * heads * tokens * bytes_per_element
