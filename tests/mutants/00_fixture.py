"""Plausible wrong answers for the fixture assignment (tests/fixtures/course/solutions/00_fixture).

The fixture has no package reference for its functions (REFERENCE is empty): its integrity check
at nbgrader level is a student whose mean_of_squares calls into sslcourse.utils (test_grading_faults).
"""

MUTANTS = {
    # ---------------------------------------------------------------- mean_of_squares
    "sum_not_mean": '''
def mean_of_squares(x):
    return (x * x).sum()
''',
    "square_of_mean": '''
def mean_of_squares(x):
    return x.mean() ** 2
''',
    "mean_of_abs": '''
def mean_of_squares(x):
    return x.abs().mean()
''',
    "first_row_only": '''
def mean_of_squares(x):
    return (x[0] * x[0]).mean()
''',
    # ---------------------------------------------------------------- cosine
    "no_normalization": '''
def cosine(a, b):
    return a @ b
''',
    "one_norm_only": '''
def cosine(a, b):
    return (a @ b) / a.norm()
''',
    "norms_added": '''
def cosine(a, b):
    return (a @ b) / (a.norm() + b.norm())
''',
    "squared_norms": '''
def cosine(a, b):
    return (a @ b) / (a.norm() ** 2 * b.norm() ** 2) ** 0.25
''',
}

REFERENCE: dict[str, str] = {}
