"""How well pixseek works, measured: on the user's own captioned photos (:mod:`.retrieval`,
``pixseek eval retrieval``) and on a labelled duplicate set of real pictures (:mod:`.labelled`
builds it, :mod:`.duplicates` scores duplicate finding on it: ``pixseek eval dedup``).

Each module is imported where it is used: the labelled set needs Pillow and scikit-image, the
retrieval evaluation only numpy.
"""
