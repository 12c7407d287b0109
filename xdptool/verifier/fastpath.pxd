# Types for the Cython build (setup.py, native.py): the .py is the source; these cimports
# let its annotations of the state classes compile to direct slot access.
from .state cimport Frame, Reg, State
