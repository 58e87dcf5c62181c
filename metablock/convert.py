def convert_state_dict(*a, **k):
    raise NotImplementedError
