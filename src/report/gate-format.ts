import type { GateCheck, GateColour, GateResult, GateThresholds } from '../gate/types.js';
import type { Interval } from '../stats/intervals.js';
import { formatNumber } from './html-page.js';

/*
 * Wording shared by the gate's renderings (Markdown memo, HTML report): colour words, decisions,
 * thresholds and intervals as text, and the reference values (minimum effect, non-inferiority
 * margin) read back from the checks. Pure functions: same result, same strings.
 */

export const COLOUR_WORD: Readonly<Record<GateColour, string>> = { green: 'GREEN', yellow: 'YELLOW', red: 'RED' };

export const DECISION_TEXT: Readonly<Record<GateResult['verdict']['decision'], string>> = {
  go: 'go',
  'go-with-mitigations': 'go with mitigations',
  hold: 'hold',
};

/** What each decision asks of the release team, in one sentence. */
export const DECISION_MEANING: Readonly<Record<GateResult['verdict']['decision'], string>> = {
  go: 'every check is green: the candidate may ship.',
  'go-with-mitigations': 'no check is red, but the yellow ones ship only with their mitigations in place.',
  hold: 'at least one check is red: do not ship the candidate until it is resolved and the gate is re-run.',
};

/** The offline gate judges a candidate before release; rolling back is a decision about a live one. */
export const ROLLBACK_NOTE = "'rollback' is a decision for a live release; this offline gate judges a candidate before it ships and never asks for it (its strongest verdict is 'hold').";

/**
 * A number for text: 4 significant digits without trailing zeros ('0.0032', not '0.003200'),
 * exponent form below 1e-4 and from 1e9, '∞' for infinities, 'not measurable' for NaN.
 */
export function formatValue(x: number): string {
  if (Number.isNaN(x)) return 'not measurable';
  if (!Number.isFinite(x)) return formatNumber(x);
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a < 1e-4 || a >= 1e9) return x.toExponential(3).replace(/\.?0+e/, 'e');
  return String(Number(x.toPrecision(4)));
}

/** A whole count with thousands separators: 200000 -> '200,000' (locale-free). */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return formatValue(n);
  const s = String(Math.round(Math.abs(n))).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return n < 0 ? `-${s}` : s;
}

/** A signed difference, e.g. '+0.0032' or '-0.0061' (NaN: 'not measurable'). */
export function formatSigned(x: number): string {
  if (Number.isNaN(x)) return 'not measurable';
  return x > 0 ? `+${formatValue(x)}` : formatValue(x);
}

/** '95%' for alpha 0.05; up to two decimals ('97.5%'). */
export function confidenceLevel(alpha: number): string {
  return `${Number(((1 - alpha) * 100).toFixed(2))}%`;
}

/** '[0.0013, 0.0053] (95% bca)'. */
export function formatInterval(ci: Interval): string {
  return `[${formatValue(ci.lower)}, ${formatValue(ci.upper)}] (${confidenceLevel(ci.alpha)} ${ci.method})`;
}

/** A check's thresholds as one phrase, e.g. 'yellow below 0.1, red below 0.01; minEffect = 0.002'. */
export function formatThresholds(t: GateThresholds): string {
  const parts: string[] = [];
  const side = t.better === 'higher' ? 'below ' : t.better === 'lower' ? 'above ' : '';
  if (typeof t.yellow === 'number') parts.push(`yellow ${side}${formatValue(t.yellow)}`);
  if (typeof t.red === 'number') parts.push(`red ${side}${formatValue(t.red)}`);
  const colours = parts.join(', ');
  const params = Object.keys(t)
    .filter((k) => k !== 'yellow' && k !== 'red' && k !== 'better' && t[k] !== undefined)
    .map((k) => {
      const v = t[k];
      return `${k} = ${typeof v === 'number' ? formatValue(v) : String(v)}`;
    })
    .join(', ');
  const better = t.better !== undefined && parts.length === 0 ? `${t.better} is better` : '';
  return [colours, params, better].filter((s) => s !== '').join('; ') || 'none';
}

function firstNumber(t: GateThresholds | undefined, keys: readonly string[]): number | undefined {
  if (t === undefined) return undefined;
  for (const k of keys) {
    const v = t[k];
    if (typeof v === 'number' && Number.isFinite(v)) return v;
  }
  return undefined;
}

function configNumber(config: Readonly<Record<string, unknown>>, key: string): number | undefined {
  const v = config[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

const checkById = (result: GateResult, id: GateCheck['id']): GateCheck | undefined => result.checks.find((c) => c.id === id);

/**
 * The reference values the differences are read against: the minimum effect (from the effect
 * check's thresholds, else config.minEffect) and the non-inferiority margin (from the
 * non_inferiority check's thresholds, else config.nonInferiorityMargin), each only when present.
 */
export function gateReferences(result: GateResult): { minEffect?: number; margin?: number } {
  const minEffect = firstNumber(checkById(result, 'effect')?.thresholds, ['minEffect', 'minimumEffect', 'min_effect', 'minimum_effect']) ?? configNumber(result.config, 'minEffect');
  const margin = firstNumber(checkById(result, 'non_inferiority')?.thresholds, ['margin', 'nonInferiorityMargin', 'non_inferiority_margin']) ?? configNumber(result.config, 'nonInferiorityMargin');
  return { ...(minEffect !== undefined ? { minEffect } : {}), ...(margin !== undefined ? { margin } : {}) };
}
