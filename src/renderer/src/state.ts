/**
 * What the console remembers between pages, in memory only: the session, and the token created
 * a moment ago so that a setup guide can fill it in. Nothing is written to browser storage: a
 * token is shown in the tab that created it, and is gone on reload.
 */
import { useEffect, useState } from 'preact/hooks';
import type { SessionInfo } from '../../gateway/admin/api-types';

export interface FreshToken {
  id: string;
  value: string;
  name: string;
  connection: string;
  createdAt: number;
}

type Listener = () => void;

function store<T>(initial: T) {
  let value = initial;
  const listeners = new Set<Listener>();
  return {
    get: () => value,
    set(next: T) {
      value = next;
      for (const l of listeners) l();
    },
    use(): T {
      const [, force] = useState(0);
      useEffect(() => {
        const l = () => force((n) => n + 1);
        listeners.add(l);
        return () => void listeners.delete(l);
      }, []);
      return value;
    },
  };
}

export const sessionStore = store<SessionInfo | undefined>(undefined);
export const freshTokenStore = store<FreshToken | undefined>(undefined);
