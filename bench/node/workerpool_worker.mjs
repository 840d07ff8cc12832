// workerpool's worker script: registers the tasks of tasks.mjs by name.
import workerpool from "workerpool";
import identity, { spinProcess, spinThread } from "./tasks.mjs";

workerpool.worker({ identity, spinThread, spinProcess });
