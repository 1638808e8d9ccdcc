"""What Gameball can be asked, one description per operation (the model: botocore's service
models, each operation's method, path, input shape and errors in one place).

    model.py   what a description holds: `Description`, `Field`, the rate-limit `Resource`s
    shapes.py  the parts several bodies share (merchant, line items, customer attributes)
    table.py   the descriptions: `OPERATIONS` by name, `OUTPUTS` by mapping output
    docs.py    the docs' table, rendered from it

Plain data on the ground floor: it imports nothing else of the bridge, and every stage reads
it (the record model, the mapping, the Gameball client, the emulator).
"""

from bridge.operations.model import Description, Field, Kind, Resource
from bridge.operations.table import OPERATIONS, OUTPUTS, TRACKING

__all__ = ["OPERATIONS", "OUTPUTS", "TRACKING", "Description", "Field", "Kind", "Resource"]
