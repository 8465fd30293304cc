// zod/mini carries no messages of its own ("Invalid input" for every issue): install zod's English ones, which
// the errors users read quote. Imported first by each entry (and by the test setup), before anything parses.
import * as z from 'zod/mini';
import { en } from 'zod/locales';

z.config(en());
