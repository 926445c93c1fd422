//! Medians, durations and the Markdown the benchmark prints.

use std::time::Duration;

/// The median of `samples` (the upper one of an even count).
pub fn median(samples: &[Duration]) -> Duration {
    let mut samples = samples.to_vec();
    samples.sort();
    samples[samples.len() / 2]
}

/// The `q` quantile of `samples` by nearest rank: the smallest sample with
/// at least `q` of them at or below it (`q` = 0.99: the 64th-largest of 6,400
/// is the first of the top 1%).
pub fn quantile(samples: &[Duration], q: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = (sorted.len() as f64 * q).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A duration in milliseconds, to two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// `a / b` of two durations.
pub fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

/// How many blocks of consecutive operations each comparison is also
/// reported in: the spread of the per-block ratios is the run's own noise,
/// and the per-block medians show any drift of the emulator's speed.
const BLOCKS: usize = 3;

/// Prints, per block of consecutive operations, each contender's median and
/// the ratios `numerator / denominator` named in `ratios` (indexes into
/// `contenders`).
pub fn print_blocks(contenders: &[(&str, &[Duration])], ratios: &[(usize, usize)]) {
    let n = contenders[0].1.len();
    let size = n.div_ceil(BLOCKS);
    print!("| operations |");
    for (name, _) in contenders {
        print!(" {name} |");
    }
    for (a, b) in ratios {
        print!(" {} / {} |", contenders[*a].0, contenders[*b].0);
    }
    println!();
    println!("|{}", "---|".repeat(1 + contenders.len() + ratios.len()));
    for start in (0..n).step_by(size) {
        let end = (start + size).min(n);
        print!("| {}–{} |", start + 1, end);
        let medians: Vec<Duration> = contenders
            .iter()
            .map(|(_, samples)| median(&samples[start..end]))
            .collect();
        for m in &medians {
            print!(" {} |", ms(*m));
        }
        for (a, b) in ratios {
            print!(" {:.3} |", ratio(medians[*a], medians[*b]));
        }
        println!();
    }
    println!();
}
