(deftemplate item (slot id) (slot group))
(defrule purge-group ?t <- (purge ?g) ?i <- (item (group ?g)) => (retract ?i) (printout t "purged" crlf))
(defrule purge-done ?t <- (purge ?g) (not (item (group ?g))) => (retract ?t) (printout t "group " ?g " empty" crlf))
(defrule count (item (id ?i)) => (printout t "item " ?i crlf))
;;; script
(assert (item (id 1) (group a)) (item (id 2) (group a)) (item (id 3) (group b)))
(run)
(assert (purge a))
(run)
