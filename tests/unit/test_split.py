from lmkiln.tasks.core.records import assign_split, text_id


def test_split_is_stable_and_near_the_fraction():
    ids = [text_id(str(i)) for i in range(4000)]
    first = [assign_split(i, 0.1, "salt") for i in ids]
    assert first == [assign_split(i, 0.1, "salt") for i in ids]
    share = first.count("validation") / len(ids)
    assert 0.08 < share < 0.12


def test_growing_the_fraction_only_moves_documents_into_validation():
    ids = [text_id(str(i)) for i in range(1000)]
    small = {i for i in ids if assign_split(i, 0.1, "s") == "validation"}
    large = {i for i in ids if assign_split(i, 0.2, "s") == "validation"}
    assert small <= large


def test_salt_reshuffles():
    ids = [text_id(str(i)) for i in range(1000)]
    a = [assign_split(i, 0.5, "a") for i in ids]
    b = [assign_split(i, 0.5, "b") for i in ids]
    assert a != b
