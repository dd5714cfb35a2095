// SQL NULL for a Json? column, for code that bundlers import (the panel's routes):
// the package's index would pull in the migrator and the embedded database.
import { objectEnumValues } from '@prisma/client/runtime/client';

export const DbNull = objectEnumValues.instances.DbNull;
